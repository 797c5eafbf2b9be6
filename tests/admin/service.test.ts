import { registerBunCases } from "../support/bun-cases.ts";
import { serviceCases } from "./service.cases.ts";

registerBunCases(serviceCases);
