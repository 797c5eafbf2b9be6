import { registerBunCases } from "../support/bun-cases.ts";
import { configCases } from "./config.cases.ts";

registerBunCases(configCases);
