import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { isValidScope, ROLES, type Role } from '../permissions.js';

@ValidatorConstraint({ name: 'scopes' })
class ScopesConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return Array.isArray(value) && value.every((s) => typeof s === 'string' && isValidScope(s));
  }
  defaultMessage(): string {
    return 'scopes must look like <resource>:<action>[:<path pattern>], e.g. kv:write:ci/*, with a known resource and action';
  }
}

export class CreateTokenDto {
  @ApiProperty({ example: 'ci-pipeline', minLength: 1, maxLength: 100 })
  @IsString() @Length(1, 100) @Matches(/^[^\u0000-\u001f]+$/, { message: 'name must not contain control characters' })
  name: string;

  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES)
  role: Role;

  @ApiPropertyOptional({ type: [String], example: ['kv:write:ci/*', 'tasks:write'], description: 'Narrow the role further; empty means the full role.' })
  @IsOptional() @IsArray() @ArrayMaxSize(50) @Validate(ScopesConstraint)
  scopes?: string[];

  @ApiPropertyOptional({ minimum: 1, maximum: 3650, default: 30 })
  @IsOptional() @IsInt() @Min(1) @Max(3650)
  expiresInDays?: number;
}

export class RotateTokenDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 604800, default: 0, description: 'How long the old secret keeps working.' })
  @IsOptional() @IsInt() @Min(0) @Max(604_800)
  gracePeriodSeconds?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 3650, description: 'New expiry, counted from now; default keeps the current one.' })
  @IsOptional() @IsInt() @Min(1) @Max(3650)
  expiresInDays?: number;
}

export class ListTokensQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(500)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsString() @Length(1, 512)
  cursor?: string;
}

export class TokenView {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ROLES }) role: Role;
  @ApiProperty({ type: [String] }) scopes: string[];
  @ApiProperty({ nullable: true, type: String }) expiresAt: string | null;
  @ApiProperty() createdAt: string;
  @ApiProperty({ description: 'active | expired | revoked' }) status: 'active' | 'expired' | 'revoked';
  @ApiProperty({ nullable: true, type: String }) rotatedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) lastUsedIp: string | null;
  @ApiProperty() useCount: number;
  @ApiProperty() createdBy: { kind: string; id: string };
}

export class TokenWithSecretView extends TokenView {
  @ApiProperty({ description: 'The secret; shown only in this response.' })
  token: string;
}
