// Every benchmark `npm run bench` knows. To add one: write bench/cases/<name>.ts exporting a
// BenchCase (see ../harness.ts) and list it here.
import type { BenchCase } from "../harness.ts";
import { callOverhead } from "./call-overhead.ts";
import { map100k } from "./map-100k.ts";
import { mapCpu } from "./map-cpu.ts";
import { platformJobs } from "./platform-jobs.ts";
import { runCost } from "./run-cost.ts";
import { scaleVsBullmq } from "./scale-vs-bullmq.ts";
import { scaleWorkers } from "./scale-workers.ts";
import { servingBench } from "./serving.ts";

export const CASES: BenchCase[] = [callOverhead, map100k, mapCpu, platformJobs, scaleWorkers, scaleVsBullmq, runCost, servingBench];
