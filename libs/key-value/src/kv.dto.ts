import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsDefined, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-:@]*(\/[A-Za-z0-9._\-:@]+)*$/;
export const KEY_RULES = 'keys are 1-512 characters: letters, digits and . _ - : @, segments separated by single slashes, starting with a letter or digit';
const TAG = /^[A-Za-z0-9._:\-/]{1,64}$/;
const MAX_TTL = 10 * 365 * 86_400;

class EntryWriteBase {
  @ApiProperty({ description: 'Any JSON value.', example: { build: 42 } })
  @IsDefined({ message: 'value is required (null is allowed only as JSON null inside objects)' })
  value: unknown;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_TTL, description: 'Seconds until the entry expires.' })
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TTL)
  ttlSeconds?: number;

  @ApiPropertyOptional({ type: [String], maxItems: 32 })
  @IsOptional() @IsArray() @ArrayMaxSize(32) @Matches(TAG, { each: true, message: 'each tag must be 1-64 characters of letters, digits and . _ : - /' })
  tags?: string[];
}

export class CreateEntryDto extends EntryWriteBase {
  @ApiProperty({ example: 'ci/builds/latest', maxLength: 512 })
  @IsString() @Length(1, 512) @Matches(KEY_PATTERN, { message: KEY_RULES })
  key: string;
}

export class UpsertEntryDto extends CreateEntryDto {
  @ApiPropertyOptional({ minimum: 0, description: 'Expected current version (0: must not exist); 409 on mismatch.' })
  @IsOptional() @IsInt() @Min(0)
  version?: number;
}

export class UpdateEntryDto extends EntryWriteBase {
  @ApiPropertyOptional({ minimum: 1, description: 'Expected current version (compare-and-set); If-Match works too.' })
  @IsOptional() @IsInt() @Min(0)
  version?: number;
}

export class ListEntriesQuery {
  @ApiPropertyOptional({ description: 'Only keys starting with this.' })
  @IsOptional() @IsString() @Length(0, 512)
  prefix?: string;

  @ApiPropertyOptional()
  @IsOptional() @Matches(TAG)
  tag?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsString() @Length(1, 2048)
  cursor?: string;
}

export class HistoryQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;
}

export class EntryView {
  @ApiProperty() key: string;
  @ApiProperty() value: unknown;
  @ApiProperty() version: number;
  @ApiProperty({ type: [String] }) tags: string[];
  @ApiProperty({ nullable: true, type: String }) expiresAt: string | null;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}
