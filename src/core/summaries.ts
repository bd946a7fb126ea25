/** What registry listings summarise: a hub with its newest date, a date with its operators. Plain data. */

export interface HubSummary {
  hub: string;
  latestDate: string;
  dates: number;
}

export interface DateSummary {
  date: string;
  operators: string[];
}
