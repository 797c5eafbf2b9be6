import { registerBunCases } from "../support/bun-cases.ts";
import { durationCases } from "./duration.cases.ts";

registerBunCases(durationCases);
