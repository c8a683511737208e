import packageJson from '../package.json' with { type: 'json' };

/** The release, recorded in status annotations and audit lines. */
export const VERSION: string = packageJson.version;
