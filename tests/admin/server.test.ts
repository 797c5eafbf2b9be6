import { registerBunCases } from "../support/bun-cases.ts";
import { serverCases } from "./server.cases.ts";

registerBunCases(serverCases);
