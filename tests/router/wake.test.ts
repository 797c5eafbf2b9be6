import { registerBunCases } from "../support/bun-cases.ts";
import { wakeCases } from "./wake.cases.ts";

registerBunCases(wakeCases);
