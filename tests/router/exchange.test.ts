import { registerBunCases } from "../support/bun-cases.ts";
import { exchangeCases } from "./exchange.cases.ts";

registerBunCases(exchangeCases);
