// The "store cannot be read" page: try again every few seconds, reload once the store answers.

async function retry() {
  try {
    const response = await fetch("/api/stats");
    if (response.ok) {
      location.reload();
      return;
    }
  } catch {
    // the server is restarting; try again
  }
  setTimeout(retry, 3000);
}

setTimeout(retry, 3000);
