import { registerBunCases } from "../support/bun-cases.ts";
import { routingCases } from "./routing.cases.ts";

registerBunCases(routingCases);
