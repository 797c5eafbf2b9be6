import { registerBunCases } from "../support/bun-cases.ts";
import { documentedCases } from "./documented.cases.ts";

registerBunCases(documentedCases);
