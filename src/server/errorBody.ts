/** The JSON body of every error answer, on the webhook port and the metrics port alike. */
import { STATUS_CODES } from './nodeHttp.ts';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code?: string;
}

export function errorBody(statusCode: number, message: string, code?: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(code ? { code } : {}) };
}
