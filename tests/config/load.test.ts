import { registerBunCases } from "../support/bun-cases.ts";
import { configLoadCases } from "./load.cases.ts";

registerBunCases(configLoadCases);
