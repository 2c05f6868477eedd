// Checks a Hugging Face repo id before anything is downloaded, with a message that shows the form.

const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;

/** null when `repo` looks like owner/name; otherwise what is wrong, in words. */
export function repoIdProblem(repo: string): string | null {
  const r = repo.trim();
  if (!r) return 'Enter a repo id such as HuggingFaceTB/SmolLM2-135M.';
  if (/^https?:\/\//i.test(r)) return 'Enter the repo id (owner/name), not the page address: e.g. HuggingFaceTB/SmolLM2-135M.';
  if (!REPO_ID.test(r) || r.includes('..')) return `“${r}” is not a repo id. Write it as owner/name, e.g. HuggingFaceTB/SmolLM2-135M.`;
  return null;
}
