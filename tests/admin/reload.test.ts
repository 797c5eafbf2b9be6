import { registerBunCases } from "../support/bun-cases.ts";
import { reloadCases } from "./reload.cases.ts";

registerBunCases(reloadCases);
