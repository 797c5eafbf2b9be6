import { registerBunCases } from "../support/bun-cases.ts";
import { lineWriterCases } from "./line-writer.cases.ts";

registerBunCases(lineWriterCases);
