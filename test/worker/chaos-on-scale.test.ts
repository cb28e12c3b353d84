// The chaos tests of chaos.test.ts on the scale path: Postgres store, runs through BullMQ on Redis.
import { scaleBackend } from "../platform/scale-backend.ts";
if (await scaleBackend("chaos")) await import("./chaos.test.ts");
