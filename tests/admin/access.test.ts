import { registerBunCases } from "../support/bun-cases.ts";
import { accessCases } from "./access.cases.ts";

registerBunCases(accessCases);
