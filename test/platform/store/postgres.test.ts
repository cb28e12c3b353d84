import { it } from "node:test";
import { runStoreConformance } from "./conformance.ts";
import { makePostgresHarness, postgresUnavailable } from "./pg-harness.ts";

const unavailable = await postgresUnavailable();
if (unavailable) {
  it("postgres store conformance", { skip: unavailable }, () => {});
} else {
  runStoreConformance("postgres", makePostgresHarness);
}
