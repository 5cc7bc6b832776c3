// Placeholder: the portal UI replaces this script. It reads the session from <body>.
"use strict";
document.documentElement.dataset.portalScript = "loaded";
