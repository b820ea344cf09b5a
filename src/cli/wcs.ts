import type { Command } from 'commander';

export function registerWcsCommands(program: Command): void {
  void program;
}
