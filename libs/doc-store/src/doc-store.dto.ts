import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsInt, IsISO8601, IsOptional, IsString, Length, Max, Min } from 'class-validator';

export class CreateCollectionDto {
  @ApiProperty({ example: 'releases/2026/q4', description: 'Segments of letters, digits, . _ - separated by slashes.' })
  @IsString() @Length(1, 512)
  path: string;
}

export class WriteDocumentDto {
  @ApiProperty({ description: 'Any JSON value.', example: { status: 'done', build: { number: 17 } } })
  @IsDefined({ message: 'value is required' })
  value: unknown;

  @ApiPropertyOptional({ minimum: 1, description: 'Absent: create (409 DOCUMENT_EXISTS if it exists). Present: replace; must be the current version (409 VERSION_CONFLICT otherwise). If-Match works too (412 on mismatch).' })
  @IsOptional() @IsInt() @Min(1)
  version?: number;
}

export class ListCollectionsParams {
  @ApiPropertyOptional({ description: 'Only collections whose path starts with this, e.g. releases/' })
  @IsOptional() @IsString() @Length(0, 512)
  prefix?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsString() @Length(1, 1024)
  cursor?: string;
}

export class CollectionDocumentsParams {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 50 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page of documents' })
  @IsOptional() @IsString() @Length(1, 8192)
  cursor?: string;
}

export class ReadDocumentParams {
  @ApiPropertyOptional({ minimum: 1, description: 'Read this past version (from the document stream).' })
  @IsOptional() @IsInt() @Min(1)
  version?: number;

  @ApiPropertyOptional({ example: '2026-12-01T10:00:00Z', description: 'Read the document as it was at this time (the stream folded up to it).' })
  @IsOptional() @IsISO8601({ strict: true })
  at?: string;
}

export class HistoryParams {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ minimum: 1, description: 'Only versions below this one (the nextBefore of the previous page).' })
  @IsOptional() @IsInt() @Min(1)
  before?: number;
}

export class DocumentViewDto {
  @ApiProperty({ example: 'releases/2026/q4/build-17' }) path: string;
  @ApiProperty() value: unknown;
  @ApiProperty({ description: 'The stream revision + 1; also the ETag.' }) version: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
  @ApiProperty({ description: 'The actor of the last write: {kind, id}.' }) updatedBy: unknown;
}

export class CollectionViewDto {
  @ApiProperty() path: string;
  @ApiProperty() documentCount: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() createdBy: unknown;
}

class SortEntryDto {
  @ApiProperty({ example: 'build.number', description: 'A dotted value field, or $path, $collection, $version, $createdAt, $updatedAt.' }) field: string;
  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'asc' }) direction?: 'asc' | 'desc';
}

/** OpenAPI shape of the query body; it is validated by parseDocumentQuery so that a 400 names the bad part. */
export class QueryDocumentsDto {
  @ApiPropertyOptional({ type: [String], example: ['releases/**'], description: '`*` one segment (or part of one), `**` any depth; any of them matches. Default ["**"].' })
  paths?: string[];

  @ApiPropertyOptional({
    type: Object,
    example: { status: 'done', 'build.number': { $gte: 10 }, $or: [{ tags: { $contains: 'nightly' } }, { priority: { $in: [1, 2] } }] },
    description: 'MongoDB-style: $eq $ne $gt $gte $lt $lte $in $nin $contains $exists $prefix on (nested, dotted) fields; $and $or $not.',
  })
  filter?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [SortEntryDto] }) sort?: SortEntryDto[];
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 50 }) limit?: number;
  @ApiPropertyOptional({ description: 'nextCursor of the previous page (same paths, filter and sort).' }) cursor?: string;
  @ApiPropertyOptional({ type: [String], description: 'Return only these value fields.' }) fields?: string[];
  @ApiPropertyOptional({ description: 'Also return the total number of matches.' }) count?: boolean;
}
