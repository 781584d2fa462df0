// A loopback TCP port nobody listens on right now, for a baseline server started by the simulator
// (redis-server, etcd) that must be told its port on the command line.

import { createServer } from 'node:net'

/** Bind port 0 on 127.0.0.1, read the port the kernel chose, release it. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}
