import { registerBunCases } from "../support/bun-cases.ts";
import { headerCases } from "./header-cases.ts";
import { httpCases } from "./http-cases.ts";
import { trustedCases } from "./trusted-cases.ts";
import { webSocketCases } from "./websocket-cases.ts";

registerBunCases(headerCases);
registerBunCases(httpCases);
registerBunCases(trustedCases);
registerBunCases(webSocketCases);
