// Pages with no script of their own still answer the common keys (`?`, `/`).

import { installKeys } from "./keys.js";

installKeys([]);
