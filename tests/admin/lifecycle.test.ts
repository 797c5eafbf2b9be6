import { registerBunCases } from "../support/bun-cases.ts";
import { lifecycleCases } from "./lifecycle.cases.ts";

registerBunCases(lifecycleCases);
