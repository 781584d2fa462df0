// Limits shared by several protocols: the sizes of identities and signatures that appear in their
// messages. Frame caps stay in each protocol's messages.ts, since each is derived from that
// protocol's own message limits; the peer link's queue and deadline bounds are in libp2p-peer-link.ts.

/**
 * Characters of a peer id as text. Base58 Ed25519 ids are 52 characters and CIDv1 forms stay
 * under 70; 128 leaves room for other key types while keeping every id field small.
 */
export const PEER_ID_CHARS_MAX = 128

/**
 * Bytes of a signature by a node key. Ed25519 signatures are 64 bytes; 512 allows RSA-4096
 * identities, which libp2p also supports.
 */
export const SIGNATURE_BYTES_MAX = 512

/** Bytes of an Ed25519 signature: exactly 64 (bft members sign with Ed25519 only). */
export const ED25519_SIGNATURE_BYTES = 64

