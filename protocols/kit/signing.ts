// The bytes a node signs: a domain tag naming protocol, purpose and version, then the signed
// fields, together as one CBOR array. The tag keeps a signature made for one protocol (or one
// message kind) from ever verifying as another's. bft and health sign this way. events and state
// predate it: they sign a text prefix followed by CBOR (`agentmesh-events-v1:` + body,
// `agentmesh/state/record/v1\n` + record). Those signed bytes are stored (event logs, DHT records
// republished across restarts), so they keep their form until a new format version moves them.

import { encodeCbor } from './cbor.ts'

/** A signing domain: `agentmesh/<protocol>/v<n>` or `agentmesh/<protocol>/<kind>/v<n>` (the version last). */
export type SigningDomain = `agentmesh/${string}`

/** The bytes to sign (or verify) for `fields` under `domain`: CBOR of `[domain, ...fields]`. */
export function domainSigningBytes (domain: SigningDomain, fields: readonly unknown[]): Uint8Array {
  return encodeCbor([domain, ...fields])
}
