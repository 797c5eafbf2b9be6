import { registerBunCases } from "../support/bun-cases.ts";
import { overdueCases } from "./overdue.cases.ts";

registerBunCases(overdueCases);
