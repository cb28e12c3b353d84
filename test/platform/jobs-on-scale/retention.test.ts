// The same end-to-end tests as test/platform/jobs/retention.test.ts on the scale path: Postgres store,
// runs through BullMQ on Redis, two workers (the local one and an `nbx worker` process).
import { scaleBackend } from "../scale-backend.ts";
if (await scaleBackend("retention")) await import("../jobs/retention.test.ts");
