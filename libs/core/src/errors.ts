/** Errors with a stable code and an HTTP status; one filter turns them into problem+json. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>, code = 'VALIDATION_FAILED') {
    super(code, message, 400, details);
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string, code = 'NOT_FOUND', details?: Record<string, unknown>) {
    super(code, message, 404, details);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, code = 'CONFLICT', details?: Record<string, unknown>) {
    super(code, message, 409, details);
  }
}

export class PreconditionFailedError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('PRECONDITION_FAILED', message, 412, details);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = 'a valid token is required', code = 'UNAUTHORIZED') {
    super(code, message, 401);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message: string, code = 'FORBIDDEN') {
    super(code, message, 403);
  }
}
