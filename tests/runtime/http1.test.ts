import { registerBunCases } from "../support/bun-cases.ts";
import { http1Cases } from "./http1.cases.ts";

registerBunCases(http1Cases);
