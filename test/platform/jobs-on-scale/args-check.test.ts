// The same end-to-end tests as test/platform/jobs/args-check.test.ts on the scale path: Postgres store,
// runs through BullMQ on Redis, two workers (the local one and an `nbx worker` process).
import { scaleBackend } from "../scale-backend.ts";
if (await scaleBackend("args-check")) await import("../jobs/args-check.test.ts");
