import { registerBunCases } from "../support/bun-cases.ts";
import { slicerClientCases } from "./slicer-client.cases.ts";

registerBunCases(slicerClientCases);
