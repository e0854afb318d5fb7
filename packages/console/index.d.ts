/** The folder of the console's built files (index.html, assets/), which the gateway serves at /ui/. */
export declare const consoleDir: string;
