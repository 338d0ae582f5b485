/**
 * The layering the folders show, checked on the import graph: every import, export-from and
 * dynamic import() of every file under src/ (and cluster/, the launcher's scripts), type-only
 * ones included. TypeScript's parser reads the statements, so comments and strings that look
 * like imports are not taken for them.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../support/process.ts';

interface Edge {
  from: string;
  /** A repo-relative path for a relative import, else the package specifier as written. */
  to: string;
  /** `import type` / `export type ... from` / `import('x').T` in a type: erased, nothing runs. */
  typeOnly: boolean;
}

const SOURCE = /\.(ts|mts|mjs|js)$/;

function filesUnder(dir: string, skip: (relative: string) => boolean = () => false): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
    const relative = path.posix.join(dir, entry.name);
    if (skip(relative)) continue;
    if (entry.isDirectory()) found.push(...filesUnder(relative, skip));
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(relative);
  }
  return found;
}

/** Every module specifier `file` names, from its syntax tree (comments and strings are not imports). */
function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(REPO_ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const add = (specifier: ts.Node | undefined, typeOnly: boolean): void => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return;
    const name = specifier.text;
    const to = name.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), name)) : name;
    edges.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/**
 * Packages the domain may name in types only: json-schema-to-ts derives the rules' TypeScript
 * types from their JSON schema at compile time, and nothing of it exists at run time.
 */
const DOMAIN_TYPE_PACKAGES = new Set(['json-schema-to-ts']);

// cluster/cassandra/.run* hold a running database's files, not code.
const files = [...filesUnder('src'), ...filesUnder('cluster', (relative) => relative.startsWith('cluster/cassandra/.'))];
const edges = files.flatMap(importsOf);
const under = (folder: string) => (file: string) => file.startsWith(`${folder}/`);
const shown = (list: Edge[]) => list.map((edge) => `${edge.from} -> ${edge.to}`);

t.test('the graph is read: imports resolve to files', async (t) => {
  t.ok(files.length > 50, `${files.length} files read`);
  t.ok(
    edges.some((edge) => edge.from === 'src/main.ts' && edge.to === 'src/server.ts'),
    'the entry point is seen importing the composition root',
  );
  t.ok(
    edges.some((edge) => edge.from === 'src/cluster/forwarding.ts' && edge.to === 'src/http/admin-auth.ts'),
    'type and value imports across folders are seen',
  );
});

t.test('the HTTP layer does not import the cluster (cluster mode plugs into the app as fastify plugins)', async (t) => {
  t.same(shown(edges.filter((edge) => under('src/http')(edge.from) && under('src/cluster')(edge.to))), []);
});

t.test('only the entry point imports the composition root', async (t) => {
  t.same(shown(edges.filter((edge) => edge.to === 'src/server.ts' && edge.from !== 'src/main.ts')), []);
});

t.test('the domain imports only the domain (no I/O, no framework, no package at run time)', async (t) => {
  const outside = edges.filter((edge) => under('src/domain')(edge.from) && !under('src/domain')(edge.to));
  t.same(shown(outside.filter((edge) => !(edge.typeOnly && DOMAIN_TYPE_PACKAGES.has(edge.to)))), []);
});
