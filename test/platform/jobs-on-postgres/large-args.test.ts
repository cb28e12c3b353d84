// The same end-to-end tests as test/platform/jobs/large-args.test.ts, on the Postgres store (DESIGN §4: one contract, two stores).
process.env.NBOX_TEST_STORE = "postgres";
await import("../jobs/large-args.test.ts");
