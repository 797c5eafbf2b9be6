import { registerBunCases } from "../support/bun-cases.ts";
import { trafficCases } from "./traffic.cases.ts";

registerBunCases(trafficCases);
