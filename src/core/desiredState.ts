/**
 * True when `actual` already holds everything `desired` sets. The API server adds defaults to what
 * we write (imagePullPolicy, terminationMessagePath, …), so an exact comparison would re-patch an
 * already-mutated object on every update.
 */
export function holdsDesired(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      desired.length === actual.length &&
      desired.every((item, i) => holdsDesired(item, actual[i]))
    );
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    const record = actual as Record<string, unknown>;
    return Object.entries(desired).every(([key, value]) => holdsDesired(value, record[key]));
  }
  return desired === actual;
}
