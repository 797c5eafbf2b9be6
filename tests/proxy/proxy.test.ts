import { registerBunCases } from "../support/bun-cases.ts";
import { headerCases } from "./header-cases.ts";

registerBunCases(headerCases);
