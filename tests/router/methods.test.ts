import { registerBunCases } from "../support/bun-cases.ts";
import { methodCases } from "./methods.cases.ts";

registerBunCases(methodCases);
