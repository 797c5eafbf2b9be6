import { registerBunCases } from "../support/bun-cases.ts";
import { askCases } from "./ask.cases.ts";

registerBunCases(askCases);
