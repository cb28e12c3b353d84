/** Why a version's modules keep the TypeScript loader: recorded, and repeated at each cold start. */
export class KeepLoader extends Error {}
