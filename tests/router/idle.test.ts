import { registerBunCases } from "../support/bun-cases.ts";
import { idleCases } from "./idle.cases.ts";

registerBunCases(idleCases);
