import { registerBunCases } from "../support/bun-cases.ts";
import { slicerCases } from "./slicer.cases.ts";

registerBunCases(slicerCases);
