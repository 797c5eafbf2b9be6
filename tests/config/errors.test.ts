import { registerBunCases } from "../support/bun-cases.ts";
import { configErrorCases } from "./errors.cases.ts";

registerBunCases(configErrorCases);
