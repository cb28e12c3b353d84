// nbox wire codec: JSON with tagged extensions, versioned envelope.
export { CodecError } from "./codec-error.ts";
export { toWire, type ToWireOptions } from "./to-wire.ts";
export { fromWire, type FromWireOptions } from "./from-wire.ts";
export {
  encode,
  decode,
  encodeEnvelope,
  decodeEnvelope,
  encodedSize,
  CODEC_VERSION,
  SUPPORTED_VERSIONS,
  type Envelope,
} from "./envelope.ts";
export { TAG_KEY } from "./tags.ts";
export { toPlain, type ToPlainOptions } from "./to-plain.ts";
