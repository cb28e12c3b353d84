// The same end-to-end tests as test/platform/serving/large-config.test.ts on the scale path: Postgres store,
// runs through BullMQ on Redis, two workers (the local one and an `nbx worker` process).
import { scaleBackend } from "../scale-backend.ts";
if (await scaleBackend("serving large-config")) await import("../serving/large-config.test.ts");
