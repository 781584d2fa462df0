// The values agents exchange: what direct messages, state records and BFT values carry. A
// payload is JSON-shaped, with raw bytes allowed (CBOR carries both).

/** A JSON-serialisable value, or bytes (DESIGN "Public API": payloads). */
export type Payload = null | boolean | number | string | Uint8Array | Payload[] | { [key: string]: Payload }
