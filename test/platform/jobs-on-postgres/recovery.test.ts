// The same end-to-end tests as test/platform/jobs/recovery.test.ts, on the Postgres store (one contract, two stores).
process.env.NBOX_TEST_STORE = "postgres";
await import("../jobs/recovery.test.ts");
